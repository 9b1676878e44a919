"""Observers that notify people (Slack, Telegram) when a run starts, ends or fails."""
