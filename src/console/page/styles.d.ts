// Style sheets imported by the console script are bundled by Bun into its CSS output.
declare module "*.css";
