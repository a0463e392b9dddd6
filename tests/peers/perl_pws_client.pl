#!/usr/bin/perl
# Client for hybi's interop tests, built on Perl Protocol::WebSocket (Debian libprotocol-websocket-perl 0.26).
#
# Usage: perl perl_pws_client.pl VERSION URL
#   VERSION: draft-hixie-75 | draft-ietf-hybi-00 (Hixie-76) | draft-ietf-hybi-10 (sends Sec-WebSocket-Version: 8)
#            | draft-ietf-hybi-17 (13)
#
# Steps, one line each (`ok STEP ...` or `FAIL STEP reason`):
#   handshake  the library accepts the server's answer (hybi-00: including the MD5 checksum)
#   text       a few text messages (ASCII, multi-byte UTF-8, empty, 200 and 70000 bytes), echoed exactly
#   binary     (hybi-10/17) all 256 byte values, echoed as binary
#   ping       (hybi-10/17) the pong must carry the ping's payload
#   close      hixie-75: half-close, the server must close too; hybi-00: FF 00 answered by FF 00;
#              hybi-10/17: close 1000 answered by close 1000; then the server must close the connection
# Last line `passed N failed M`; exit status 0 only when every step passed.
# Note: for draft-ietf-hybi-00 the library adds `Content-Length: 8` to the request (a known quirk).
use strict;
use warnings;
use IO::Socket::INET;
use IO::Select;
use Protocol::WebSocket::Handshake::Client;
use Protocol::WebSocket::Frame;

my %KNOWN = map { $_ => 1 } qw(draft-hixie-75 draft-ietf-hybi-00 draft-ietf-hybi-10 draft-ietf-hybi-17);
my ($ver, $url) = @ARGV;
unless (@ARGV == 2 && $KNOWN{$ver} && $url =~ m{^ws://([^:/]+):(\d+)}) {
    print STDERR "usage: perl perl_pws_client.pl draft-hixie-75|draft-ietf-hybi-00|draft-ietf-hybi-10|draft-ietf-hybi-17 ws://HOST:PORT/PATH\n";
    exit 2;
}
my ($host, $port) = ($1, $2);
my $hixie = $ver eq 'draft-hixie-75' || $ver eq 'draft-ietf-hybi-00';
my $TIMEOUT = 10;
$| = 1;
alarm 60;    # backstop: never hang

my ($passed, $failed) = (0, 0);
sub finish { print "passed $passed failed $failed\n"; exit($failed ? 1 : 0) }
sub ok { $passed++; print join(' ', 'ok', @_), "\n" }
sub fail { my ($step, $why) = @_; $failed++; print "FAIL $step $why\n"; finish() }

my $sock = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port, Proto => 'tcp')
  or fail('handshake', "connect: $!");
binmode $sock;
my $sel = IO::Select->new($sock);

# Reads more bytes into $_[0]; returns 0 at EOF; fails on timeout.
sub read_more {
    my $step = $_[1];
    $sel->can_read($TIMEOUT) or fail($step, "no answer within $TIMEOUT s");
    my $n = sysread($sock, my $chunk, 65536);
    return 0 unless $n;
    $_[0] .= $chunk;
    return 1;
}

my $hs = Protocol::WebSocket::Handshake::Client->new(url => $url, version => $ver);
print {$sock} $hs->to_string;
my $rest = '';
until ($hs->is_done) {
    my $chunk = '';
    read_more($chunk, 'handshake') or fail('handshake', 'connection closed during the handshake');
    $hs->parse($chunk) or fail('handshake', 'rejected by the library: ' . ($hs->error // 'unknown'));
    $rest = $chunk;    # parse() leaves the bytes after the handshake in $chunk
}
ok('handshake', "version=$ver");

my %frame_opts = (version => $ver, max_payload_size => 0);
my $in = Protocol::WebSocket::Frame->new(%frame_opts);
$in->append($rest);

# Next message from the server as [opcode, bytes], or undef at EOF.
sub next_frame {
    my $step = shift;
    while (1) {
        my $bytes = eval { $in->next_bytes };
        fail($step, "bad frame from the server: $@") if $@;
        return [$in->opcode, $bytes] if defined $bytes;
        my $chunk = '';
        read_more($chunk, $step) or return undef;
        $in->append($chunk);
    }
}

sub send_frame {
    my %args = @_;
    print {$sock} Protocol::WebSocket::Frame->new(%frame_opts, masked => 1, %args)->to_bytes;
}

sub expect_echo {
    my ($step, $type, $opcode, $data) = @_;    # $data: bytes
    send_frame(type => $type, buffer => $data);
    my $f = next_frame($step) or fail($step, 'connection closed before the echo');
    fail($step, "got opcode $f->[0], want $opcode") if !$hixie && $f->[0] != $opcode;
    fail($step, sprintf('echo of %d bytes came back as %d bytes', length $data, length $f->[1])) if $f->[1] ne $data;
}

my @texts = ("hello $ver", "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9d\x84\x9e", '', 'x' x 200, 'z' x 70000);
expect_echo('text', 'text', 1, $_) for @texts;
ok('text', scalar(@texts) . ' messages');

unless ($hixie) {
    expect_echo('binary', 'binary', 2, join('', map { chr } 0 .. 255));
    ok('binary');

    send_frame(type => 'ping', buffer => 'hybi-ping');
    my $f = next_frame('ping') or fail('ping', 'connection closed instead of a pong');
    fail('ping', "got opcode $f->[0], want a pong (10)") unless $f->[0] == 10;
    fail('ping', "pong payload '$f->[1]', want 'hybi-ping'") unless $f->[1] eq 'hybi-ping';
    ok('ping');
}

if ($ver eq 'draft-hixie-75') {
    shutdown($sock, 1);    # no closing handshake in Hixie-75: closing the connection is the close
    my $extra = '';
    1 while read_more($extra, 'close');
    fail('close', 'unexpected bytes after our half-close') if length $extra;
    ok('close', 'tcp');
}
else {
    if ($ver eq 'draft-ietf-hybi-00') {
        send_frame(type => 'close');
    }
    else {
        send_frame(type => 'close', buffer => pack('n', 1000));
    }
    my $f = next_frame('close') or fail('close', 'connection closed without a close frame');
    fail('close', "got opcode $f->[0], want close (8)") unless $f->[0] == 8;
    if ($hixie) {
        ok('close', 'ff00');
    }
    else {
        my $code = length $f->[1] >= 2 ? unpack('n', $f->[1]) : 'none';
        fail('close', "server answered close code $code, want 1000") unless $code eq '1000';
        ok('close', "code=$code");
    }
    my $extra = '';
    1 while read_more($extra, 'tcp-close');
    fail('tcp-close', 'unexpected bytes after the close') if length $extra;
    ok('tcp-close');
}
finish();
