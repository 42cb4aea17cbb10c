# Lintian profile for tap2deb's tests: Debian's checks, minus tags that only matter when a
# package is uploaded to Debian's own archive (a generated service package never is).
Profile: tap2deb/main
Extends: debian/main
Disable-Tags:
# The archive wants the first upload of a source package to close its ITP bug; a generated
# package has no ITP bug to close.
 initial-upload-closes-no-bugs
# The archive requires the preferred form of modification for every binary it distributes.
# The private runtime carries compiled modules from upstream wheels (cryptography, cffi,
# pydantic-core); a locally deployed package is not distributed by Debian's archive.
 source-is-missing
