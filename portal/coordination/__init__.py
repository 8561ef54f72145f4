"""Coordinated assessments: the offer, consent and the proposed plan."""
