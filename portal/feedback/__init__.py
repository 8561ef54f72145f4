"""Instant decisions on the receipt and the case page, and "how did it go?" surveys."""
