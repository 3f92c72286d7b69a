"""Content Credentials (C2PA): every output says, verifiably, that it is AI-generated.

`keys` makes or loads the signing certificate (a local root and a signing certificate made
by `zizi credentials init`, or an organisation's own); `manifest` builds the C2PA manifest
from an output's provenance record and signs the finished temporary file before it is
renamed into place; `verify` reads a file's manifest back with c2pa's own validation.

Nothing here touches the network: no timestamp authority, no OCSP, no remote manifests.
c2pa and cryptography are imported inside functions, so `zizi --help` stays instant.
"""
