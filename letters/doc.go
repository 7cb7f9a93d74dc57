// Package letters will own ID-code letters (R-REG-3): generating the code when the letter is produced
// and keeping only its keyed hash, supersession, the 15-day validity, PDF rendering and print batches.
// Empty until its issue.
package letters
