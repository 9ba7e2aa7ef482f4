"""``cognito-auth-middleware inspect``: explain, check by check, why headers pass or fail.

For debugging a real deployment: it says what the configuration makes of each header (the
provider, the access-token mode, where the groups are), decodes the tokens (printing their
header and claims, never a token in full) and runs each stage of the trust chain with the
engine's own checks, reporting pass or fail with the reason, then the groups found and the
verdict of the real verifier.

``chain`` runs the diagnosis of one request, ``access`` holds the access token's stages (which
depend on ``access_token_kind``), ``bearer`` a machine client's bearer token's stages (the
``bearer`` setting) and ``report`` writes the result down.
"""

from .chain import diagnose, read_saved_request
from .report import Check, report

__all__ = ["Check", "diagnose", "read_saved_request", "report"]
