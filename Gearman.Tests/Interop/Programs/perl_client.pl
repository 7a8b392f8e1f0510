#!/usr/bin/perl
# A Gearman::Client (libgearman-client-perl) for the interop tests:
#   perl_client.pl HOST PORT do FUNC ARG          do_task: prints "status N/D" (if any), then "result <value>" or "fail"
#   perl_client.pl HOST PORT taskset FUNC ARG...  one task per ARG in a task set: "complete <arg> <value>" or
#                                                 "fail <arg>" per task, then "done"
#   perl_client.pl HOST PORT bg FUNC ARG          dispatch_background: "handle <H>", then get_status: "known=K running=R"
use strict;
use warnings;
use FindBin;
require "$FindBin::Bin/job_server.pl";
use Gearman::Client;

$| = 1;
my ($host, $port, $mode, $func, @args) = @ARGV;
die "usage: perl_client.pl HOST PORT MODE FUNC ARG...\n" unless defined $func && @args;

my $server = job_server($host, $port);
my $client = Gearman::Client->new(job_servers => [$server]);

if ($mode eq 'do') {
    my $result = $client->do_task($func, $args[0], {
        on_status => sub { my ($n, $d) = @_; print "status $n/$d\n"; },
        timeout   => 20,
    });
    print defined $result ? "result $$result\n" : "fail\n";
}
elsif ($mode eq 'taskset') {
    my $taskset = $client->new_task_set;
    for my $arg (@args) {
        $taskset->add_task($func => $arg, {
            on_complete => sub { my $r = shift; print "complete $arg $$r\n"; },
            on_fail     => sub { print "fail $arg\n"; },
        });
    }
    $taskset->wait(timeout => 20);
    print "done\n";
}
elsif ($mode eq 'bg') {
    my $handle = $client->dispatch_background($func, $args[0]);
    die "dispatch_background failed\n" unless defined $handle;
    print "handle $handle\n";
    my $status = $client->get_status($handle);
    printf "known=%d running=%d\n", ($status && $status->known ? 1 : 0), ($status && $status->running ? 1 : 0);
}
else {
    die "unknown mode $mode\n";
}
