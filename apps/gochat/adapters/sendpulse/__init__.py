"""SendPulse adapters: mail sent through SendPulse's HTTP API with templates kept there."""
