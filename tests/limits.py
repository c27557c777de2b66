"""Real failures for tests: a process's own limits, set for the length of a `with` block."""

import resource
import signal


class file_size_limit:
    """Writes of this process beyond `size` bytes into a file fail with EFBIG ("File too
    large"), as writes to a full disk fail: a real error from the kernel, not a mock."""

    def __init__(self, size: int):
        self.size = size

    def __enter__(self):
        self.limits = resource.getrlimit(resource.RLIMIT_FSIZE)
        # (By default the kernel's SIGXFSZ would end the process instead.)
        self.handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.size, self.limits[1]))

    def __exit__(self, *exc_info):
        resource.setrlimit(resource.RLIMIT_FSIZE, self.limits)
        signal.signal(signal.SIGXFSZ, self.handler)
