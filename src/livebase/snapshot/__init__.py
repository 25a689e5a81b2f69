"""Snapshot export and import: ZIP files in the layout of ``npx convex export``.

``values`` converts documents to and from the snapshot's JSON encoding, ``layout`` reads a ZIP
(Livebase's own or Convex's), ``restore`` writes one into a deployment in one transaction and
``dump`` reads tables at one commit timestamp for export. See docs/cli.md (``livebase export`` /
``livebase import``).
"""
