"""Station-wide things every program may use that are not messaging: the station config and its reader,
host identity, logging set-up, the supervisord client and program table, SQLite unit of work."""
