# Broken on purpose: not terraform fmt-clean (alignment and indentation).
resource "aws_sqs_queue" "jobs" {
  name = "jobs"
    visibility_timeout_seconds = 300
}
