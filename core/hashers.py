"""The password hasher: Argon2id with the parameters of OWASP's Password Storage Cheat
Sheet (19 MiB of memory, 2 passes, 1 lane).

Django's own Argon2 defaults (100 MiB, 2 passes, 8 lanes) took 110–150 ms of CPU per
sign-in on a 2-core server, and 300–400 ms when the lanes' 8 threads competed with other
work, for no gain in strength that OWASP counts: its listed configurations (19 MiB × 2
passes, 46 MiB × 1, ...) are equivalent against guessing on GPUs. The smaller memory
also bounds what a burst of sign-ins can take from the server (19 MiB each, not 100).
A password stored with other parameters is still checked, and stored again with these
at its next sign-in (``must_update`` compares the parameters).
"""

from django.contrib.auth.hashers import Argon2PasswordHasher


class OwaspArgon2PasswordHasher(Argon2PasswordHasher):
    algorithm = "argon2"
    time_cost = 2
    memory_cost = 19 * 1024  # KiB
    parallelism = 1
