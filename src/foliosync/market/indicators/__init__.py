"""Pure numeric indicators (numpy + TA-Lib): no database, no HTTP."""
