"""Ready Label Studio labeling configs (the XML files beside this one), installed as package data."""
