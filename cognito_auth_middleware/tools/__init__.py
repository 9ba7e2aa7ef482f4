"""Command-line tools: the CLI (``cli``), the local demo (``demo``), the ALB emulator
(``emulator``) and the deployment check behind ``inspect`` (``diagnose``).
"""
