package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tiercel/tiercel/internal/defaults"
)

// StackOptions say where the programs a stack runs are and how to pin them.
type StackOptions struct {
	// Tiercel is the gateway binary; default "bin/tiercel".
	Tiercel string
	// Self is this tool's binary, which serves the origin (`bare`);
	// default os.Executable.
	Self string
	// CPU pins every server process; -1 leaves them unpinned. Pinned
	// servers run with GOMAXPROCS=1.
	CPU int
	// Dir holds generated configs and logs; it must exist.
	Dir string
}

func (o StackOptions) withDefaults() (StackOptions, error) {
	// Absolute, because nginx resolves relative paths against its prefix.
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("cannot resolve %q: %w", o.Dir, err)
	}
	o.Dir = dir
	defaults.Set(&o.Tiercel, "bin/tiercel")
	if o.Self == "" {
		self, err := os.Executable()
		if err != nil {
			return o, fmt.Errorf("cannot find this tool's binary: %w", err)
		}
		o.Self = self
	}
	return o, nil
}

func (o StackOptions) env() []string {
	if o.CPU < 0 {
		return nil
	}
	return []string{"GOMAXPROCS=1"}
}

// Stack is the processes behind one target: the origin, maybe
// redis-server, and the server under test.
type Stack struct {
	// URL is the target's base URL, Admin its admin listener's ("" for
	// peers), Headers what every request must carry (a token).
	URL, Admin string
	Headers    []Header
	// Broker is the Kafka broker the gateway consumes events from, if any.
	Broker   string
	procs    []*Proc
	measured []*Proc // the server under test: its CPU time is reported
}

func (s *Stack) start(spec ProcSpec, measured bool) (*Proc, error) {
	p, err := StartProc(spec)
	if err != nil {
		return nil, err
	}
	s.procs = append(s.procs, p)
	if measured {
		s.measured = append(s.measured, p)
	}
	return p, nil
}

// Close stops every process, last started first.
func (s *Stack) Close() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].Close()
	}
	s.procs = nil
}

// CPU is the CPU time the server under test (with its children) has used.
func (s *Stack) CPU() (time.Duration, error) {
	var sum time.Duration
	for _, p := range s.measured {
		d, err := TreeCPU(p.Pid())
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// startOrigin runs the 1 KiB bare handler as the origin.
func (s *Stack) startOrigin(o StackOptions, name string, measured bool) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, err = s.start(ProcSpec{
		Name: name, Path: o.Self, Args: []string{"bare", "-listen", addr, "-size", "1024"},
		Env: o.env(), CPU: o.CPU, Addr: addr, LogPath: filepath.Join(o.Dir, name+".log"),
	}, measured)
	return addr, err
}

// StartBare starts the bare fasthttp handler as a target of its own.
func StartBare(o StackOptions) (*Stack, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Stack{}
	addr, err := s.startOrigin(o, "bare", true)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.URL = "http://" + addr
	return s, nil
}

// StartBareJWT is StartBare whose requests carry a token minted like
// StartTiercel's: the bare handler ignores it, but parses the same request
// bytes, so a ratio to it leaves out what request size costs and keeps
// what the gateway does.
func StartBareJWT(o StackOptions) (*Stack, error) {
	s, err := StartBare(o)
	if err != nil {
		return nil, err
	}
	tok, err := gatewayConf{Auth: true, Secret: newSecret()}.token(2 * time.Hour)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Headers = []Header{{Name: "Authorization", Value: "Bearer " + tok}}
	return s, nil
}

// StartTiercel starts an origin, redis-server (or a Redis Cluster) if spec
// asks for L2, and a
// gateway with a generated config, and mints the token its routes need.
func StartTiercel(o StackOptions, spec GatewaySpec) (*Stack, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Stack{}
	if err := s.startTiercel(o, spec); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Stack) startTiercel(o StackOptions, spec GatewaySpec) error {
	origin, err := s.startOrigin(o, "origin", false)
	if err != nil {
		return err
	}
	listen, err1 := freeAddr()
	admin, err2 := freeAddr()
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	c := gatewayConf{
		Listen: listen, Admin: admin, Origin: origin, L1Bytes: spec.L1Bytes, ClusterScripts: spec.ClusterScripts,
		Auth: spec.Auth == nil || *spec.Auth, RateLimit: spec.RateLimit == nil || *spec.RateLimit,
		Secret: newSecret(),
	}
	switch {
	case spec.RedisCluster > 0:
		if c.RedisCluster, err = s.startRedisCluster(o, spec.RedisCluster); err != nil {
			return err
		}
	case spec.Redis:
		if c.RedisURL, err = s.startRedis(o); err != nil {
			return err
		}
	}
	if spec.Kafka {
		if c.KafkaBroker, err = s.startBroker(o); err != nil {
			return err
		}
		s.Broker = c.KafkaBroker
	}
	text, err := c.render()
	if err != nil {
		return err
	}
	if err := writeConfig(o.Dir, "tiercel.yaml", text); err != nil {
		return err
	}
	if _, err := s.start(ProcSpec{
		Name: "tiercel", Path: o.Tiercel, Args: []string{"serve", "-config", filepath.Join(o.Dir, "tiercel.yaml")},
		Env: o.env(), CPU: o.CPU, Addr: listen, LogPath: filepath.Join(o.Dir, "tiercel.log"),
	}, true); err != nil {
		return err
	}
	s.URL, s.Admin = "http://"+listen, "http://"+admin
	if c.Auth {
		tok, err := c.token(2 * time.Hour)
		if err != nil {
			return err
		}
		s.Headers = []Header{{Name: "Authorization", Value: "Bearer " + tok}}
	}
	return nil
}

// startRedis runs a throwaway redis-server (no persistence) for L2. It is
// part of what an L2 hit costs, so its CPU time is counted with the
// gateway's.
func (s *Stack) startRedis(o StackOptions) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	_, err = s.start(ProcSpec{
		Name: "redis-server", Path: "redis-server", CPU: o.CPU, Addr: addr, LogPath: filepath.Join(o.Dir, "redis.log"),
		Args: []string{"--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", o.Dir},
	}, true)
	return "redis://" + addr + "/0", err
}

// StartNginx starts an origin and nginx proxy_cache in front of it.
func StartNginx(o StackOptions) (*Stack, error) {
	return startPeer(o, "nginx", func(s *Stack, dir, listen, origin string) error {
		c := nginxConf{Dir: dir, Listen: listen, Origin: origin, Root: os.Geteuid() == 0}
		text, err := c.render()
		if err == nil {
			err = writeConfig(dir, "nginx.conf", text)
		}
		if err == nil {
			_, err = s.start(c.spec(o.CPU), true)
		}
		return err
	})
}

// StartVarnish starts an origin and Varnish in front of it.
func StartVarnish(o StackOptions) (*Stack, error) {
	return startPeer(o, "varnish", func(s *Stack, dir, listen, origin string) error {
		c := varnishConf{Dir: dir, Listen: listen, Origin: origin}
		text, err := c.render()
		if err == nil {
			err = writeConfig(dir, "default.vcl", text)
		}
		if err == nil {
			_, err = s.start(c.spec(o.CPU), true)
		}
		return err
	})
}

func startPeer(o StackOptions, name string, run func(s *Stack, dir, listen, origin string) error) (*Stack, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(o.Dir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", name, err)
	}
	s := &Stack{}
	origin, err := s.startOrigin(o, name+"-origin", false)
	if err == nil {
		var listen string
		if listen, err = freeAddr(); err == nil {
			s.URL = "http://" + listen
			err = run(s, dir, listen, origin)
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}
