#!/usr/bin/perl
# A Gearman::Worker (libgearman-client-perl) for the interop tests:
#   perl_worker.pl HOST PORT FUNC [COUNT]
# For each job it prints "job <handle> <arg>", sends WORK_STATUS 1/2 and completes with "perl:" . reverse(arg).
# With COUNT it exits after COUNT jobs; otherwise it runs until killed.
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/job_server.pl";
use Gearman::Worker;

$| = 1;
my ($host, $port, $func, $count) = @ARGV;
die "usage: perl_worker.pl HOST PORT FUNC [COUNT]\n" unless defined $func;

my $server = job_server($host, $port);
my $worker = Gearman::Worker->new(job_servers => [$server]);
my $done = 0;
$worker->register_function($func => sub {
    my $job = shift;
    my $arg = $job->arg;
    print "job ", $job->handle, " $arg\n";
    $job->set_status(1, 2);
    $done++;
    return "perl:" . reverse($arg);
});
$worker->work(stop_if => sub { defined $count && $done >= $count });
print "worker done\n";
