# Echo server for hybi's interop tests, built on em-websocket (Debian ruby-em-websocket 0.5.1), which picks
# the draft from the request: Hixie-75, Hixie-76, HyBi-01..03 (Sec-WebSocket-Draft), 05, 06, 07, 08, 13.
#
# Usage: ruby em_websocket_server.rb PORT      (PORT 0 picks a free port; listens on 127.0.0.1 only)
#
# Echoes text messages as text and binary messages as binary (em-websocket reassembles fragments);
# em-websocket itself answers pings and close frames. One line per event on stdout:
#   listening PORT | open handler=CLASS path=P | text NBYTES | binary NBYTES | ping | close CODE | error ...
require 'em-websocket'
require 'socket'

$stdout.sync = true
port = ARGV.size == 1 && Integer(ARGV[0], exception: false)
unless port
  warn 'usage: ruby em_websocket_server.rb PORT'
  exit 2
end

EM.run do
  sig = EM::WebSocket.run(host: '127.0.0.1', port: port) do |ws|
    ws.onopen do |hs|
      puts "open handler=#{ws.instance_variable_get(:@handler).class.name.split('::').last} path=#{hs.path}"
    end
    ws.onmessage do |msg|
      puts "text #{msg.bytesize}"
      ws.send_text(msg)
    end
    ws.onbinary do |msg|
      puts "binary #{msg.bytesize}"
      ws.send_binary(msg)
    end
    ws.onping { |_| puts 'ping' }
    ws.onclose { |ev| puts "close #{ev.is_a?(Hash) ? ev[:code] : ''}" }
    ws.onerror { |e| puts "error #{e.class}: #{e.message}" }
  end
  puts "listening #{Socket.unpack_sockaddr_in(EM.get_sockname(sig))[0]}"
end
