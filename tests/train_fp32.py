"""`rtstyle ARGS...` with float32 training: the test of torchrun against one process compares
numbers, and a CPU's bf16 autocast rounds differently for different batch shapes."""

import sys

import rtstyle.precision
from rtstyle.cli import main

rtstyle.precision.native_cpu_bf16 = lambda: False
sys.argv[0] = "rtstyle"
main()
