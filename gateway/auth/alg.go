package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"fmt"
)

// keyKind is the type of key an algorithm may be verified with. Binding every
// alg to exactly one kind is what defeats algorithm confusion: a token that
// says HS256 can never be checked against an RSA public key's bytes.
type keyKind uint8

const (
	kindNone keyKind = iota
	kindHMAC
	kindRSA
	kindP256
	kindP384
	kindP521
	kindEd25519
)

var kindNames = [...]string{
	kindNone:    "unsupported",
	kindHMAC:    "HMAC secret",
	kindRSA:     "RSA",
	kindP256:    "ECDSA P-256",
	kindP384:    "ECDSA P-384",
	kindP521:    "ECDSA P-521",
	kindEd25519: "Ed25519",
}

func (k keyKind) String() string { return kindNames[k] }

// algKinds lists every algorithm an issuer may allow. "none" is absent on
// purpose.
var algKinds = map[string]keyKind{
	"HS256": kindHMAC, "HS384": kindHMAC, "HS512": kindHMAC,
	"RS256": kindRSA, "RS384": kindRSA, "RS512": kindRSA,
	"PS256": kindRSA, "PS384": kindRSA, "PS512": kindRSA,
	"ES256": kindP256, "ES384": kindP384, "ES512": kindP521,
	"EdDSA": kindEd25519,
}

const (
	minRSABits     = 2048
	minSecretBytes = 32
)

// kindOf classifies a public key (or HMAC secret) and rejects weak ones.
func kindOf(pub any) (keyKind, error) {
	switch k := pub.(type) {
	case []byte:
		if len(k) < minSecretBytes {
			return kindNone, fmt.Errorf("HMAC secret has %d bytes, want at least %d", len(k), minSecretBytes)
		}
		return kindHMAC, nil
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits {
			return kindNone, fmt.Errorf("RSA key has %d bits, want at least %d", n, minRSABits)
		}
		return kindRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return kindP256, nil
		case elliptic.P384():
			return kindP384, nil
		case elliptic.P521():
			return kindP521, nil
		}
		return kindNone, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return kindEd25519, nil
	}
	return kindNone, fmt.Errorf("unsupported key type %T", pub)
}

// publicOf returns the verification half of a key, and whether the key can
// sign (a private key or an HMAC secret).
func publicOf(key any) (pub any, canSign bool) {
	switch k := key.(type) {
	case []byte:
		return k, true
	case *rsa.PrivateKey:
		return &k.PublicKey, true
	case *ecdsa.PrivateKey:
		return &k.PublicKey, true
	case ed25519.PrivateKey:
		return k.Public().(ed25519.PublicKey), true
	}
	return key, false
}

// isHMAC reports whether alg is one of the HS* algorithms.
func isHMAC(alg string) bool { return algKinds[alg] == kindHMAC }
