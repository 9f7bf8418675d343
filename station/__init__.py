"""Station-wide things every program may use that are not messaging: the station config and its reader,
host identity, logging set-up, the supervisord client and program table, SQLite unit of work, the serial-port
task (open, read loop, reopen with back-off). Imports no other first-party package."""
