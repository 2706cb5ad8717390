"""mlpilot package."""
