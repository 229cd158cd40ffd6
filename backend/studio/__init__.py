"""The Label Studio adapter: protocol types, results encoding, SDK client."""
