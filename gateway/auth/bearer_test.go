package auth

import "testing"

// extractBearer is what VerifyBearer reads from the header before the
// verified-token cache: the token, checked to be a b64token.
func extractBearer(authorization []byte) ([]byte, error) {
	tok, err := splitBearer(authorization)
	if err != nil {
		return nil, err
	}
	if !isB64Token(tok) {
		return nil, errBearerChars
	}
	return tok, nil
}

func TestExtractBearer(t *testing.T) {
	f := func(header, want string, wantReason Reason) {
		t.Helper()
		tok, err := extractBearer([]byte(header))
		if want != "" {
			if err != nil || string(tok) != want {
				t.Fatalf("%q: got (%q, %v), want %q", header, tok, err, want)
			}
			return
		}
		if r, ok := reasonOf(err); !ok || r != wantReason || tok != nil {
			t.Fatalf("%q: got (%q, %v), want reason %s", header, tok, err, wantReason)
		}
	}
	f("Bearer abc.def.ghi", "abc.def.ghi", 0)
	f("bearer abc", "abc", 0)
	f("BEARER abc", "abc", 0)
	f("BeArEr   abc", "abc", 0)
	f("Bearer a-b_c~d+e/f==", "a-b_c~d+e/f==", 0)
	f("", "", ReasonMissing)
	f("Bearer", "", ReasonMalformed)
	f("Bearer ", "", ReasonMalformed)
	f("Bearer    ", "", ReasonMalformed)
	f("Basic dXNlcjpwYXNz", "", ReasonMalformed)
	f("Bearerabc", "", ReasonMalformed)
	f("Bearer\tabc", "", ReasonMalformed)
	f(" Bearer abc", "", ReasonMalformed)
	f("Bearer abc def", "", ReasonMalformed)
	f("Bearer abc ", "", ReasonMalformed)
	f("Bearer =abc", "", ReasonMalformed)
	f("Bearer ==", "", ReasonMalformed)
	f("Bearer a=b", "", ReasonMalformed)
	f("Bearer abc\x00", "", ReasonMalformed)
	f("Bearër abc", "", ReasonMalformed)
	f("Token abc", "", ReasonMalformed)
}

func TestExtractBearerReturnsSubslice(t *testing.T) {
	h := []byte("Bearer xyz")
	tok, err := extractBearer(h)
	if err != nil {
		t.Fatal(err)
	}
	if &tok[0] != &h[7] {
		t.Fatal("extractBearer copied the token")
	}
}
