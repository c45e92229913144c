"""voipbin-iac: declarative provisioning of VoIPBin AI voice agents."""

__version__ = "0.2.0"
