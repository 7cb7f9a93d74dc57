package letters

// SetCodeSource replaces the CSPRNG so that a test knows the code that only the paper would show.
func SetCodeSource(l *Letters, f func() (string, error)) { l.newCode = f }
