"""ATR universe, the scan filter language, presets with their liquidity gate, and the holdings scan."""
