"""Running the connector in production: health, pausing schedules for upgrades, log format."""
