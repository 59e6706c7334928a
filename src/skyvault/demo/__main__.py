"""``python -m skyvault.demo``."""

from skyvault.demo.runner import main

main()
