# Broken on purpose: v1 allows IMDSv1 tokens and a hop limit of 1 (a
# container cannot reach IMDS); nometa leaves IMDS at its defaults.
resource "aws_launch_template" "v1" {
  name_prefix = "v1-"
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "optional"
    http_put_response_hop_limit = 1
  }
}

resource "aws_launch_template" "nometa" {
  name_prefix = "nometa-"
}
