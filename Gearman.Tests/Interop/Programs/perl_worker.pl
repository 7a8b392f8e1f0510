#!/usr/bin/perl
# A Gearman::Worker (libgearman-client-perl) for the interop tests:
#   perl_worker.pl HOST PORT FUNC [COUNT]
# For each job it prints "job <handle> <arg>", sends WORK_STATUS 1/2 and completes with "perl:" . reverse(arg).
# With COUNT it exits after COUNT jobs; otherwise it runs until killed.
use strict;
use warnings;
use Gearman::Worker;

$| = 1;
my ($host, $port, $func, $count) = @ARGV;
die "usage: perl_worker.pl HOST PORT FUNC [COUNT]\n" unless defined $func;

# TLS (IO::Socket::SSL) when GEARMAN_TLS_CA is set; GEARMAN_TLS_CERT and GEARMAN_TLS_KEY add a client certificate.
my $server = "$host:$port";
if ($ENV{GEARMAN_TLS_CA}) {
    $server = { host => $host, port => $port, use_ssl => 1, ca_file => $ENV{GEARMAN_TLS_CA} };
    $server->{cert_file} = $ENV{GEARMAN_TLS_CERT} if $ENV{GEARMAN_TLS_CERT};
    $server->{key_file} = $ENV{GEARMAN_TLS_KEY} if $ENV{GEARMAN_TLS_KEY};
}
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
