import os
import sys

from studio.cli import main

try:
    sys.exit(main())
except BrokenPipeError:  # the reader went away (`... | head`): stop quietly, as a shell tool does
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(1)
