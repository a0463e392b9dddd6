# Echo server for hybi's interop tests, built on the Ruby `websocket` gem (Debian ruby-websocket 1.2.9).
# The gem picks the draft from the request (Sec-WebSocket-Version, else Sec-WebSocket-Draft, else Key1 => 76,
# else 75); we do the socket I/O, the gem builds the answer and encodes/decodes frames.
#
# Usage: ruby ruby_ws_server.rb PORT      (PORT 0 picks a free port; listens on 127.0.0.1 only)
#
# Echoes text and binary messages with their type (the gem reassembles fragments), answers pings with
# pongs, answers a close frame with a close frame (the same code for version 7 and up, FF 00 for Hixie-76)
# and then closes the connection. One line per event on stdout:
#   listening PORT | open version=N path=P | text NBYTES | binary NBYTES | ping | close [CODE] | eof | error ...
require 'socket'
require 'websocket'

WebSocket.should_raise = true
$stdout.sync = true

# Defect in websocket 1.2.9 (worked around here, see tests/peers/README.md): Handshake::Base#leftovers
# returns the bytes after the request header with String#strip applied, and Server76 hashes that as key3.
# A key3 that starts or ends with a whitespace or NUL byte (about 1 handshake in 20) gets a wrong MD5
# answer. Give the Hixie-76 server handler the raw 8 bytes instead.
module RawKey3
  def leftovers
    @version == 76 || (0..3).cover?(@version) ? @leftovers.to_s.byteslice(0, 8) : super
  end
end
WebSocket::Handshake::Server.prepend(RawKey3)

port = ARGV.size == 1 && Integer(ARGV[0], exception: false)
unless port
  warn 'usage: ruby ruby_ws_server.rb PORT'
  exit 2
end
srv = TCPServer.new('127.0.0.1', port)
puts "listening #{srv.addr[1]}"

def serve(sock)
  buf = String.new('', encoding: Encoding::BINARY)
  buf << sock.readpartial(65_536) until (i = buf.index("\r\n\r\n"))
  # Hixie-76 and HyBi-01..03 requests carry 8 raw bytes (key3) after the header block
  need = buf.byteslice(0, i) =~ /^sec-websocket-key1:/i ? 8 : 0
  buf << sock.readpartial(65_536) while buf.bytesize < i + 4 + need
  cut = i + 4 + need
  hs = WebSocket::Handshake::Server.new
  hs << buf.byteslice(0, cut)
  unless hs.valid?
    puts "error handshake rejected by the gem: #{hs.error.inspect}"
    sock.write("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
    return
  end
  ver = hs.version
  sock.write(hs.to_s)
  puts "open version=#{ver} path=#{hs.path}"
  incoming = WebSocket::Frame::Incoming::Server.new(version: ver)
  incoming << buf.byteslice(cut..)
  out = ->(type, data = '', code = nil) { WebSocket::Frame::Outgoing::Server.new(version: ver, type: type, data: data, code: code).to_s }
  loop do
    while (f = incoming.next)
      case f.type
      when :text, :binary
        puts "#{f.type} #{f.data.to_s.bytesize}"
        sock.write(out.call(f.type, f.data.to_s))
      when :ping
        puts 'ping'
        sock.write(out.call(:pong, f.data.to_s))
      when :close
        puts ['close', f.code].compact.join(' ')
        # 7 and up: answer with the received code; before that the close body is echoed as it came
        sock.write(ver >= 7 && ver <= 13 ? out.call(:close, '', f.code || 1000) : out.call(:close, f.data.to_s))
        return
      end
    end
    chunk = sock.readpartial(65_536)
    incoming << chunk
  end
rescue EOFError
  puts 'eof'
rescue StandardError => e
  puts "error #{e.class}: #{e.message}"
ensure
  sock.close unless sock.closed?
end

loop do
  Thread.new(srv.accept) { |sock| serve(sock) }
end
