# The job server entry of the Perl peers: "host:port", or over TLS (IO::Socket::SSL) when GEARMAN_TLS_CA is set;
# GEARMAN_TLS_CERT and GEARMAN_TLS_KEY add a client certificate.
use strict;
use warnings;

sub job_server {
    my ($host, $port) = @_;
    return "$host:$port" unless $ENV{GEARMAN_TLS_CA};
    my $server = { host => $host, port => $port, use_ssl => 1, ca_file => $ENV{GEARMAN_TLS_CA} };
    $server->{cert_file} = $ENV{GEARMAN_TLS_CERT} if $ENV{GEARMAN_TLS_CERT};
    $server->{key_file} = $ENV{GEARMAN_TLS_KEY} if $ENV{GEARMAN_TLS_KEY};
    return $server;
}

1;
