"""skyvault: back up and restore AWS resources with least-privilege IAM permissions it proves."""

__version__ = "0.1.0"
