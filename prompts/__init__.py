"""Prompt templates as Markdown files and their renderer. Arrives with the agents issue."""
