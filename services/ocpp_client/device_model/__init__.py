"""The device model (part 2 B05-B08 storage side): the catalog of components and variables REON declares
(catalog), their stored attributes in ocpp.db (store), value checks per dataType (values), the text form of a
variable key used in config files (keys), the model itself (model) and the report builders for
GetVariables, SetVariables, GetBaseReport, GetReport and NotifyReport (reports).
"""
