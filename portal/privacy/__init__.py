"""The citizen's privacy pages: who has seen my data, and my data (GDPR Art. 15)."""
