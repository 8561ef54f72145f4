"""The coordinated plan (én plan): one blueprint for citizens and caseworkers."""
