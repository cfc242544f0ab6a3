// Creates, or edits in place, a pull request's comment for one stack: the comment is found by the
// marker tools/pr_comment.py puts on its first line, so each stack has exactly one comment and a
// new push updates it instead of adding another. Used from actions/github-script.
const LIMIT = 65536; // GitHub's limit on a comment body, in characters
const AUTHOR = 'github-actions[bot]'; // who a workflow's GITHUB_TOKEN comments as

module.exports = async ({ github, context, issueNumber, stack, body }) => {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(stack)) throw new Error(`not a stack name: ${JSON.stringify(stack)}`);
  if (!Number.isInteger(issueNumber) || issueNumber < 1) throw new Error(`not a pull request number: ${issueNumber}`);
  const marker = `<!-- webapp-preview:${stack} -->`;
  let text = body.startsWith(marker) ? body : `${marker}\n${body}`;
  if (text.length > LIMIT) {
    text = text.slice(0, LIMIT - 200) + "\n\n_Cut to GitHub's comment limit: the full diff is in the run's artifacts._\n";
  }
  const { owner, repo } = context.repo;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner, repo, issue_number: issueNumber, per_page: 100,
  });
  // Only comments this repository's workflows posted (GITHUB_TOKEN's author): another app or bot
  // that copies the marker must not be able to have its comment taken over, or ours replaced.
  const mine = comments.find((c) => c.user && c.user.login === AUTHOR && (c.body || '').startsWith(marker));
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body: text });
    return { action: 'updated', id: mine.id };
  }
  const created = await github.rest.issues.createComment({ owner, repo, issue_number: issueNumber, body: text });
  return { action: 'created', id: created.data.id };
};
