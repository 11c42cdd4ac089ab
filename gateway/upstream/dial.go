package upstream

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// newDialer returns the connection factory of one target's HostClient.
// Each dial is bounded by limit as well as by the time left until the
// request deadline, which fasthttp passes in.
//
// For https targets the TLS handshake happens here, under the same bound:
// left to fasthttp (without a WriteTimeout, which would also cap slow
// uploads) it would run inside the first write with no read deadline, and a
// target that accepts TCP but never answers the ClientHello would hold the
// request past its deadline.
func newDialer(addr targetAddr, limit time.Duration) fasthttp.DialFuncWithTimeout {
	var tlsConfig *tls.Config
	if addr.isTLS {
		host, _, _ := net.SplitHostPort(addr.hostPort) // validated by parseTarget
		tlsConfig = &tls.Config{
			ServerName:         host,
			ClientSessionCache: tls.NewLRUClientSessionCache(0),
		}
	}
	return func(hostPort string, timeout time.Duration) (net.Conn, error) {
		if timeout <= 0 || timeout > limit {
			timeout = limit
		}
		deadline := time.Now().Add(timeout)
		conn, err := net.DialTimeout("tcp", hostPort, timeout)
		if err != nil || tlsConfig == nil {
			return conn, err
		}
		return handshake(conn, tlsConfig, deadline)
	}
}

func handshake(conn net.Conn, config *tls.Config, deadline time.Time) (net.Conn, error) {
	tc := tls.Client(conn, config)
	err := conn.SetDeadline(deadline)
	if err == nil {
		err = tc.Handshake()
	}
	if err == nil {
		err = conn.SetDeadline(time.Time{})
	}
	if err != nil {
		_ = conn.Close()
		// Reported as a dial error: the request was not sent, so it is a
		// connection failure that an idempotent request may retry elsewhere.
		return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: conn.RemoteAddr(), Err: err}
	}
	return tc, nil
}
