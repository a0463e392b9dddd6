vcl 4.1;
# hybi lab: Varnish cache in front of the lab's sites; WebSocket as Varnish documents it (pipe on Upgrade).
backend be_default { .host = "@DEFAULT@"; .port = "80"; }
backend be_attacker { .host = "@ATTACKER@"; .port = "80"; }
backend be_target { .host = "@TARGET@"; .port = "80"; }
backend be_backend { .host = "@BACKEND@"; .port = "80"; }
backend be_victim { .host = "@VICTIM@"; .port = "80"; }
backend be_a { .host = "@A@"; .port = "80"; }
backend be_b { .host = "@B@"; .port = "80"; }
sub vcl_recv {
    if (req.http.host ~ "(?i)^b\.example(:|$)" || req.url ~ "^/b/") {
        set req.backend_hint = be_b;
    } elsif (req.http.host ~ "(?i)^attacker\.example(:|$)") {
        set req.backend_hint = be_attacker;
    } elsif (req.http.host ~ "(?i)^target\.example(:|$)") {
        set req.backend_hint = be_target;
    } elsif (req.http.host ~ "(?i)^backend\.example(:|$)") {
        set req.backend_hint = be_backend;
    } elsif (req.http.host ~ "(?i)^victim\.example(:|$)") {
        set req.backend_hint = be_victim;
    } elsif (req.http.host ~ "(?i)^a\.example(:|$)") {
        set req.backend_hint = be_a;
    } else {
        set req.backend_hint = be_default;
    }
    if (req.http.upgrade ~ "(?i)websocket") {
        return (pipe);
    }
}
sub vcl_pipe {
    if (req.http.upgrade) {
        set bereq.http.upgrade = req.http.upgrade;
        set bereq.http.connection = req.http.connection;
    }
}
