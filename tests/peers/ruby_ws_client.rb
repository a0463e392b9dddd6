# Client for hybi's interop tests, built on the Ruby `websocket` gem (Debian ruby-websocket 1.2.9), which
# speaks every draft from Hixie-75 to RFC 6455. We do the socket I/O; the gem builds and checks the
# handshake and encodes/decodes frames.
#
# Usage: ruby ruby_ws_client.rb VERSION URL
#   VERSION: 75 (Hixie-75), 76 (Hixie-76 = HyBi-00), 3 (HyBi-03), 5, 6, 7, 8 (HyBi-08..12), 13 (RFC 6455)
#
# Steps, one line each (`ok STEP ...` or `FAIL STEP reason`):
#   handshake   the gem accepts the server's answer (for 76/3 including the 16-byte MD5 answer)
#   text        a few text messages (ASCII, multi-byte UTF-8, empty, 200 and 70000 bytes), echoed exactly
#   binary      (3 and up) a binary message with all 256 byte values, echoed exactly and as binary
#   ping        (3 and up) a ping whose pong must carry the same payload
#   close       75: half-close, the server must close too; 76: FF 00 answered by FF 00;
#               3..6: a close frame answered by a close frame; 7..13: close 1000 answered by close 1000;
#               then the server must close the TCP connection
# Last line `passed N failed M`; exit status 0 only when every step passed.
require 'socket'
require 'uri'
require 'websocket'

WebSocket.should_raise = true
STEP_TIMEOUT = 10 # seconds to wait for any answer

ver = Integer(ARGV[0] || '', exception: false)
url = ARGV[1]
unless ver && url && ARGV.size == 2 && [75, 76, 3, 4, 5, 6, 7, 8, 13].include?(ver)
  warn 'usage: ruby ruby_ws_client.rb 75|76|3|4|5|6|7|8|13 URL'
  exit 2
end
$stdout.sync = true
HIXIE = [75, 76].include?(ver)       # Hixie framing: 0x00 text 0xFF, text only
KEY3 = [76, 3].include?(ver)         # Key1/Key2 + 8 bytes; the answer is 16 raw bytes after the header

$passed = 0
$failed = 0
def ok(step, detail = nil)
  $passed += 1
  puts ["ok #{step}", detail].compact.join(' ')
end

def fail!(step, reason)
  $failed += 1
  puts "FAIL #{step} #{reason}"
  finish
end

def finish
  puts "passed #{$passed} failed #{$failed}"
  exit($failed.zero? ? 0 : 1)
end

# Reads more bytes into buf; returns false on EOF; raises on timeout.
def read_more(sock, buf)
  raise "no answer within #{STEP_TIMEOUT} s" unless IO.select([sock], nil, nil, STEP_TIMEOUT)
  buf << sock.readpartial(65_536)
  true
rescue EOFError
  false
end

uri = URI(url)
begin
  sock = TCPSocket.new(uri.host, uri.port)
rescue SystemCallError => e
  fail!('handshake', "connect: #{e.message}")
end

# Tornado 3 refuses Hixie-76 without Origin, and drafts 4..10 carry it as Sec-WebSocket-Origin: always send one.
hs = WebSocket::Handshake::Client.new(url: url, version: ver, origin: 'http://127.0.0.1')
sock.write(hs.to_s)
buf = String.new('', encoding: Encoding::BINARY)
need = KEY3 ? 16 : 0
begin
  until (i = buf.index("\r\n\r\n")) && buf.bytesize - i - 4 >= need
    read_more(sock, buf) or fail!('handshake', "connection closed; received #{buf.inspect}")
  end
  # hand the gem exactly the handshake (plus the 16-byte answer); keep what follows for the frame decoder
  cut = i + 4 + need
  hs << buf.byteslice(0, cut)
  rest = buf.byteslice(cut..)
  fail!('handshake', "rejected by the gem (#{hs.error.inspect}): #{buf.byteslice(0, cut).inspect}") unless hs.valid?
rescue StandardError => e
  fail!('handshake', "rejected by the gem (#{e.message}): #{buf.byteslice(0, 200).inspect}")
end
ok('handshake', "version=#{ver}")

incoming = WebSocket::Frame::Incoming::Client.new(version: ver)
incoming << rest
frame_out = ->(type, data = '', code = nil) { WebSocket::Frame::Outgoing::Client.new(version: ver, type: type, data: data, code: code).to_s }

# Next decoded frame from the server, or nil at EOF.
next_frame = lambda do
  loop do
    f = incoming.next
    return f if f
    chunk = String.new('', encoding: Encoding::BINARY)
    return nil unless read_more(sock, chunk)
    incoming << chunk
  end
end

expect_echo = lambda do |step, type, data|
  sock.write(frame_out.call(type, data))
  f = next_frame.call
  fail!(step, 'connection closed before the echo') unless f
  fail!(step, "got a #{f.type} frame, want #{type}") unless f.type == type
  got = f.data.to_s.b
  want = data.b
  fail!(step, "echo of #{want.bytesize} bytes came back as #{got.bytesize} bytes #{got[0, 40].inspect}") unless got == want
end

begin
  texts = ["hello draft #{ver}", "h\u00e9llo w\u00f6rld \u20ac \u{1d11e}", '', 'x' * 200, 'z' * 70_000]
  texts.each { |t| expect_echo.call('text', :text, t) }
  ok('text', "#{texts.size} messages")

  unless HIXIE
    expect_echo.call('binary', :binary, (0..255).map(&:chr).join.b)
    ok('binary')

    sock.write(frame_out.call(:ping, 'hybi-ping'))
    f = next_frame.call
    fail!('ping', 'connection closed instead of a pong') unless f
    fail!('ping', "got a #{f.type} frame, want a pong") unless f.type == :pong
    fail!('ping', "pong payload #{f.data.to_s.inspect}, want \"hybi-ping\"") unless f.data.to_s == 'hybi-ping'
    ok('ping')
  end

  case ver
  when 75
    # Hixie-75 has no closing handshake: closing is closing the TCP connection
    sock.close_write
    extra = String.new('', encoding: Encoding::BINARY)
    while read_more(sock, extra); end
    fail!('close', "unexpected bytes after our half-close: #{extra.inspect}") unless extra.empty?
    ok('close', 'tcp')
  when 76
    sock.write(frame_out.call(:close))
    f = next_frame.call
    fail!('close', 'connection closed without FF 00') unless f
    fail!('close', "got a #{f.type} frame, want FF 00") unless f.type == :close
    ok('close', 'ff00')
  else
    code = ver >= 7 ? 1000 : nil
    sock.write(frame_out.call(:close, '', code))
    f = next_frame.call
    fail!('close', 'connection closed without a close frame') unless f
    fail!('close', "got a #{f.type} frame, want close") unless f.type == :close
    fail!('close', "server answered close code #{f.code.inspect}, want 1000") if code && f.code != code
    ok('close', code ? "code=#{f.code}" : nil)
  end
  unless ver == 75
    extra = String.new('', encoding: Encoding::BINARY)
    while read_more(sock, extra); end
    fail!('tcp-close', "unexpected bytes after the close: #{extra.inspect}") unless extra.empty?
    ok('tcp-close')
  end
rescue StandardError => e
  fail!('frames', "#{e.class}: #{e.message}")
end
finish
