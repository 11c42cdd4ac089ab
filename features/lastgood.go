package features

type lastGood struct{}

func newLastGood() (*lastGood, error) { return &lastGood{}, nil }
func (l *lastGood) close()            {}
