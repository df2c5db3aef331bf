// Package job defines the job: the one small, versioned JSON document that
// travels between hlsfleet's components (CLI submit, Lambda, queue, worker).
//
// A [Job] names a source URL, an output URL prefix, a ladder preset and a few
// segment options, and says what kind of work it is: a whole video
// ([KindVOD]), one segment of a live stream ([KindLiveSegment]) or one chunk
// of a long video ([KindChunk]). [Job.Validate] checks everything a worker
// relies on before it touches storage, and [Job.IdempotencyKey] names the
// output the job determines, so redelivered or duplicated jobs can be
// recognised.
//
// # URLs
//
// Sources and outputs are s3://bucket/key or file:///absolute/path URLs (see
// [ParseLocation]). The key or path follows the scheme verbatim, the way the
// AWS CLI writes s3:// URLs: it is not percent-encoded, so "s3://b/my video.mp4"
// names the object "my video.mp4", and '%', '?' and '#' are ordinary key
// characters.
//
// # Messages on the queue
//
// [ParseMessage] turns a queue message body into jobs. It accepts a job
// document, a raw S3 event notification, an S3 notification wrapped by SNS,
// and an EventBridge "Object Created" event, so S3 → SQS needs no glue code.
// Events are mapped to jobs by [Rules]; [DefaultRules] just works.
//
// # Errors
//
// Every validation or parse problem wraps [ErrInvalid], which wraps
// [ErrPermanent]: retrying cannot help, and the worker dead-letters at once.
// A message that is understood but asks for no work (the S3 test event, a
// deletion) gives [ErrIgnore]: acknowledge it and drop it.
package job
