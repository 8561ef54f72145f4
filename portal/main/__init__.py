"""The front page, language switch, login landing and error pages."""
