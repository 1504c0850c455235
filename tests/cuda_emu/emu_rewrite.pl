#!/usr/bin/perl
# emu_rewrite.pl IN.cu OUT.cpp — the one change a CUDA source needs to build as host C++ against
# the emulator's headers (include/cuda_runtime.h):
#   kernel<<<grid, block[, smem[, stream]]>>>(args)  ->  ct_emu_launcher(kernel, grid, block...)(args)
#   extern __shared__ [__align__(N)] T name[];          ->  T *name = (T *)ct_emu_dynamic_smem();
#   __shared__ T name[N];                               ->  the same, then ct_emu_static_smem(&name, ...)
# A #line directive keeps compiler messages pointing at the original file.
use strict;
use warnings;
my ($in, $out) = @ARGV;
die "usage: $0 IN.cu OUT.cpp\n" unless defined $out;
open(my $fh, '<', $in) or die "$in: $!\n";
my $src = do { local $/; <$fh> };
close $fh;
# keep the line count: the launch's own newlines stay inside the rewritten call
my $launches = ($src =~ s/((?:\b[A-Za-z_]\w*(?:\.|->|::))*\b[A-Za-z_]\w*(?:<[^<>;(){}]*>)?)\s*<<<(.*?)>>>/ct_emu_launcher($1, $2)/gs);
$src =~ s/extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?(\w+)\s+(\w+)\s*\[\s*\]\s*;/$1 *$2 = ($1 *)ct_emu_dynamic_smem();/g;
# static shared memory: NaN (0xff bytes) again at the start of every block, as it is undefined
$src =~ s/(?<!extern )(__shared__\s+[\w:]+\s+(\w+)\s*(?:\[[^\]]*\]\s*)*;)/$1 ct_emu_static_smem(&$2, sizeof $2);/g;
die "$in: a launch the rewrite did not understand\n" if $src =~ /<<<|>>>/;
open(my $o, '>', "$out.tmp") or die "$out: $!\n";
print $o "#line 1 \"$in\"\n$src";
close $o or die "$out: $!\n";
rename("$out.tmp", $out) or die "$out: $!\n";
