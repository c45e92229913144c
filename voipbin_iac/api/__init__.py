"""Talking to VoIPBin: the HTTP client, pacing, retries and redaction of what crosses the wire."""
