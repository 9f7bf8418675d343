"""Monitoring (functional block N): SetVariableMonitoring, GetMonitoringReport, NotifyEvent,
SetMonitoringBase, SetMonitoringLevel. Room for the monitoring issue.
"""
